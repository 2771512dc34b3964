// A small SVG line chart (no dependencies): series of (x, y) points on a log2 x axis and a linear y axis,
// with a legend and an optional horizontal ceiling line. Used by bench/run.ts for throughput against
// sequence length.

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  readonly color: string;
  readonly dashed?: boolean;
}

export interface ChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** A horizontal reference line (the hardware ceiling). */
  readonly ceiling?: { readonly value: number; readonly label: string };
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Round-number ticks from 0 to at least `max`. */
function ticks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const step0 = max / 5, mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0)!;
  const out: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) out.push(+v.toPrecision(12));
  return out;
}

export function chartSvg(o: ChartOptions): string {
  const W = 760, H = 440, L = 70, R = 230, T = 50, B = 60;
  const pw = W - L - R, ph = H - T - B;
  const xs = [...new Set(o.series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1]));
  const yMax = Math.max(1e-9, ...ys, o.ceiling && ys.length && o.ceiling.value < 3 * Math.max(...ys) ? o.ceiling.value : 0);
  const yt = ticks(yMax), yTop = yt[yt.length - 1]!;
  const lx = xs.map(Math.log2), x0 = Math.min(...lx, 0), x1 = Math.max(...lx, 1);
  const sx = (x: number): number => L + (xs.length <= 1 ? pw / 2 : ((Math.log2(x) - x0) / (x1 - x0 || 1)) * pw);
  const sy = (y: number): number => T + ph - (y / yTop) * ph;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="14">${esc(o.title)}</text>`,
    `<line x1="${L}" y1="${T + ph}" x2="${L + pw}" y2="${T + ph}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${T + ph}" stroke="black"/>`,
    `<text x="${L + pw / 2}" y="${H - 18}" text-anchor="middle">${esc(o.xLabel)}</text>`,
    `<text x="18" y="${T + ph / 2}" text-anchor="middle" transform="rotate(-90 18 ${T + ph / 2})">${esc(o.yLabel)}</text>`,
  ];
  for (const y of yt)
    parts.push(`<line x1="${L}" y1="${sy(y)}" x2="${L + pw}" y2="${sy(y)}" stroke="#ddd"/>`, `<text x="${L - 6}" y="${sy(y) + 4}" text-anchor="end">${y}</text>`);
  for (const x of xs) parts.push(`<text x="${sx(x)}" y="${T + ph + 18}" text-anchor="middle">${x}</text>`);
  if (o.ceiling && o.ceiling.value <= yTop)
    parts.push(`<line x1="${L}" y1="${sy(o.ceiling.value)}" x2="${L + pw}" y2="${sy(o.ceiling.value)}" stroke="#888" stroke-dasharray="2 4"/>`,
      `<text x="${L + pw - 4}" y="${sy(o.ceiling.value) - 5}" text-anchor="end" fill="#666">${esc(o.ceiling.label)}</text>`);
  o.series.forEach((s, i) => {
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (pts.length > 1) parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of pts) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(`${s.name}: ${x} → ${y.toPrecision(4)}`)}</title></circle>`);
    const ly = T + 10 + i * 20;
    parts.push(`<line x1="${L + pw + 15}" y1="${ly}" x2="${L + pw + 45}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${L + pw + 50}" y="${ly + 4}">${esc(s.name)}${pts.length ? '' : ' (no data)'}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
