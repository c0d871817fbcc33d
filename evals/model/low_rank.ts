/**
 * Exact, deterministic truncated SVD on the host, for cache policies that keep a low-rank form of
 * the state (xKV). Works in float64 through the eigendecomposition of the smaller Gram matrix
 * (Householder tridiagonalisation and implicit QL), so the same input gives the same bits on every
 * machine; no randomised method (xKV's authors rejected `svd_lowrank` for the same reason).
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
 * symmetric `n × n` matrix `a`: Householder reduction to tridiagonal form, then the implicit QL
 * method (EISPACK's tred2 and tql2), about `5n³` operations. `a` is not changed.
 */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const v = Float64Array.from(a);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tridiagonalize(v, d, e, n);
  diagonalize(v, d, e, n);
  // Descending, ties broken by index, so the order is deterministic.
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[j] - d[i] || i - j);
  const values = Float64Array.from(order, (i) => d[i]);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src];
  });
  return { values, vectors };
}

/** Householder reduction of the symmetric `v` to tridiagonal `d` (diagonal), `e` (sub-diagonal); `v` becomes Q. */
function tridiagonalize(v: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  const at = (i: number, j: number) => i * n + j;
  for (let j = 0; j < n; j++) d[j] = v[at(n - 1, j)];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = v[at(i - 1, j)];
        v[at(i, j)] = 0;
        v[at(j, i)] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        v[at(j, i)] = f;
        g = e[j] + v[at(j, j)] * f;
        for (let k = j + 1; k < i; k++) {
          g += v[at(k, j)] * d[k];
          e[k] += v[at(k, j)] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k < i; k++) v[at(k, j)] -= f * e[k] + g * d[k];
        d[j] = v[at(i - 1, j)];
        v[at(i, j)] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    v[at(n - 1, i)] = v[at(i, i)];
    v[at(i, i)] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = v[at(k, i + 1)] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += v[at(k, i + 1)] * v[at(k, j)];
        for (let k = 0; k <= i; k++) v[at(k, j)] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) v[at(k, i + 1)] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = v[at(n - 1, j)];
    v[at(n - 1, j)] = 0;
  }
  v[at(n - 1, n - 1)] = 1;
  e[0] = 0;
}

/** Implicit QL on the tridiagonal `d`, `e`: `d` becomes the eigenvalues, `v` the eigenvectors. */
function diagonalize(v: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  const at = (i: number, j: number) => i * n + j;
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      do {
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (let k = 0; k < n; k++) {
            h = v[at(k, i + 1)];
            v[at(k, i + 1)] = s * v[at(k, i)] + c * h;
            v[at(k, i)] = c * v[at(k, i)] - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
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
