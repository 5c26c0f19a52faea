/**
 * A dependency-free horizontal bar chart in SVG, for docs/BENCHMARKS.md.
 * Deterministic output for the same data.
 */
export function barChartSvg(options: { title: string; unit: string; bars: readonly { label: string; value: number; note?: string }[] }): string {
  const width = 760;
  const labelW = 260;
  const barH = 26;
  const gap = 10;
  const top = 40;
  const max = Math.max(...options.bars.map((b) => b.value), 1e-9);
  const height = top + options.bars.length * (barH + gap) + 20;
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const rows = options.bars.map((b, i) => {
    const y = top + i * (barH + gap);
    const w = Math.max(1, Math.round(((width - labelW - 150) * b.value) / max));
    const value = `${formatNumber(b.value)} ${options.unit}${b.note ? ` ${b.note}` : ''}`;
    return [
      `<text x="${labelW - 8}" y="${y + barH / 2 + 5}" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${labelW}" y="${y}" width="${w}" height="${barH}" fill="${i % 2 === 0 ? '#3b6ea5' : '#5a8fc4'}"/>`,
      `<text x="${labelW + w + 6}" y="${y + barH / 2 + 5}">${esc(value)}</text>`,
    ].join('');
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="24" font-size="15" font-weight="bold">${esc(options.title)}</text>`,
    ...rows,
    '</svg>',
    '',
  ].join('\n');
}

function formatNumber(v: number): string {
  if (v >= 1000) return Math.round(v).toLocaleString('en-US');
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(3);
}
