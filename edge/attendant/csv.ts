/** RFC 4180 CSV: quote fields containing separators, quotes or line breaks; neutralise formula prefixes. */
export function toCsv(
  header: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number | null>>,
): string {
  const cell = (v: string | number | null): string => {
    if (v === null) return '';
    let s = String(v);
    // A spreadsheet would execute =, +, -, @ at the start of a text cell (CSV injection).
    if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

/** Minor units as a plain decimal string for reports ("450" EUR → "4.50"). */
export function minorToDecimal(amount: number, digits: number): string {
  if (digits === 0) return String(amount);
  const neg = amount < 0;
  const abs = String(Math.abs(amount)).padStart(digits + 1, '0');
  return `${neg ? '-' : ''}${abs.slice(0, -digits)}.${abs.slice(-digits)}`;
}
