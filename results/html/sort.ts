/**
 * The one script of the page: sorts the leaderboard by the column whose header is clicked (or
 * entered from the keyboard). Inline and dependency-free, so the page still opens from disk and
 * makes no network request; without scripts the table just stays in the report's order.
 *
 * @module
 */

/**
 * The script's source. A column sorts as numbers when every filled cell reads as one (the value
 * before " ± ", a trailing "×" dropped), else as text; a second click on the same header reverses
 * the order. Empty cells go last either way: a missing score is not a low one.
 */
export const SORT_SCRIPT = `(() => {
  const table = document.querySelector("#leaderboard table");
  if (!table) return;
  const body = table.tBodies[0];
  const headers = [...table.tHead.rows[0].cells];
  const value = (row, col) => row.cells[col].textContent.split(" ± ")[0].replace(/×$/, "").trim();
  headers.forEach((th, col) => {
    th.tabIndex = 0;
    const sort = () => {
      const rows = [...body.rows];
      const filled = rows.map((r) => value(r, col)).filter((t) => t !== "");
      const numeric = filled.length > 0 && filled.every((t) => Number.isFinite(Number(t)));
      const ascending = th.getAttribute("aria-sort") !== "ascending";
      for (const other of headers) other.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      rows.sort((a, b) => {
        const x = value(a, col), y = value(b, col);
        if (x === "" || y === "") return (x === "") - (y === "");
        const c = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        return ascending ? c : -c;
      });
      body.append(...rows);
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        sort();
      }
    });
  });
})();`;
