/**
 * Exact, deterministic truncated SVD on the host, for cache policies that keep a low-rank form of
 * the state (xKV). Works in float64 through the eigendecomposition of the smaller Gram matrix by
 * cyclic Jacobi rotations, so the same input gives the same bits on every machine; no randomised
 * method (xKV's authors rejected `svd_lowrank` for the same reason).
 *
 * @module
 */

/** A dense row-major matrix. */
export interface Matrix {
  /** Rows. */
  rows: number;
  /** Columns. */
  cols: number;
  /** `rows × cols` values, row-major. */
  data: Float64Array;
}

/**
 * Eigenvalues (descending) and eigenvectors (as columns of a row-major `n × n` matrix) of the
 * symmetric `n × n` matrix `a`, by cyclic Jacobi rotations until the off-diagonal part is below
 * `1e-15` of the whole. `a` is not changed.
 */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const norm = Math.sqrt(m.reduce((s, x) => s + x * x, 0));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (Math.sqrt(2 * off) <= 1e-15 * norm || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const app = m[p * n + p];
        const aqq = m[q * n + q];
        // The rotation that zeroes m[p][q] (Golub & Van Loan, symmetric Schur decomposition).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p];
          const mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k];
          const mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  // Descending, ties broken by index, so the order is deterministic.
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j * n + j] - m[i * n + i] || i - j);
  const values = Float64Array.from(order, (i) => m[i * n + i]);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src];
  });
  return { values, vectors };
}

/**
 * The best rank-`rank` approximation of `x` in the Frobenius norm (its truncated SVD multiplied
 * back): `x` projected onto its top `rank` right singular vectors (or left ones, whichever side is
 * smaller). A rank at or above `min(rows, cols)` returns a copy of `x`.
 */
export function truncateRank(x: Matrix, rank: number): Matrix {
  const { rows, cols, data } = x;
  if (rank >= Math.min(rows, cols)) return { rows, cols, data: Float64Array.from(data) };
  const out = new Float64Array(rows * cols);
  if (rank <= 0) return { rows, cols, data: out };
  if (cols <= rows) {
    // X V_r V_rᵀ with V_r the top eigenvectors of XᵀX.
    const gram = new Float64Array(cols * cols);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < cols; i++) {
        const xi = data[r * cols + i];
        if (xi === 0) continue;
        for (let j = i; j < cols; j++) gram[i * cols + j] += xi * data[r * cols + j];
      }
    }
    for (let i = 0; i < cols; i++) for (let j = 0; j < i; j++) gram[i * cols + j] = gram[j * cols + i];
    const { vectors } = symmetricEigen(gram, cols);
    const coeff = new Float64Array(rank);
    for (let r = 0; r < rows; r++) {
      coeff.fill(0);
      for (let k = 0; k < rank; k++) {
        for (let j = 0; j < cols; j++) coeff[k] += data[r * cols + j] * vectors[j * cols + k];
      }
      for (let j = 0; j < cols; j++) {
        let sum = 0;
        for (let k = 0; k < rank; k++) sum += coeff[k] * vectors[j * cols + k];
        out[r * cols + j] = sum;
      }
    }
    return { rows, cols, data: out };
  }
  // U_r U_rᵀ X with U_r the top eigenvectors of XXᵀ.
  const gram = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) {
    for (let j = i; j < rows; j++) {
      let sum = 0;
      for (let k = 0; k < cols; k++) sum += data[i * cols + k] * data[j * cols + k];
      gram[i * rows + j] = sum;
      gram[j * rows + i] = sum;
    }
  }
  const { vectors } = symmetricEigen(gram, rows);
  const coeff = new Float64Array(rank * cols); // U_rᵀ X
  for (let k = 0; k < rank; k++) {
    for (let i = 0; i < rows; i++) {
      const u = vectors[i * rows + k];
      if (u === 0) continue;
      for (let j = 0; j < cols; j++) coeff[k * cols + j] += u * data[i * cols + j];
    }
  }
  for (let i = 0; i < rows; i++) {
    for (let k = 0; k < rank; k++) {
      const u = vectors[i * rows + k];
      for (let j = 0; j < cols; j++) out[i * cols + j] += u * coeff[k * cols + j];
    }
  }
  return { rows, cols, data: out };
}
