/** How the kit prints one number or value: tables, progress lines and summaries share it. */

/**
 * One cell as readable text: integers with thousands separators (12,345), other numbers with `digits`
 * significant digits (0.9871), very large/small ones in exponent form (3.2e-5); dates as ISO; empty for null/NaN.
 * @param value the cell value
 * @param digits significant digits for non-integers (default 4)
 */
export function formatCell(value: unknown, digits = 4): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "";
    if (!Number.isFinite(value)) return value > 0 ? "∞" : "−∞";
    const a = Math.abs(value);
    if (Number.isInteger(value) && a < 1e15) return value.toLocaleString("en-US");
    if (a !== 0 && (a < 1e-3 || a >= 1e9)) return value.toExponential(Math.max(0, digits - 1));
    if (a >= Math.pow(10, digits)) return Math.round(value).toLocaleString("en-US");
    // ≥ 1000: grouped like the integers beside it (4,900 next to 11,734, not 4900)
    if (a >= 1000) return Number(value.toPrecision(digits)).toLocaleString("en-US", { maximumFractionDigits: 20 });
    return value.toPrecision(digits);
  }
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
