// A stable colour per person: the same name gets the same colour in every view.
const PALETTE = [
  "#d32f2f", "#1976d2", "#388e3c", "#f57c00", "#7b1fa2", "#0097a7",
  "#c2185b", "#5d4037", "#303f9f", "#689f38", "#e64a19", "#00796b",
];

export interface PersonColor {
  color: string;
  light: string;
}

export function colorFor(name: string): PersonColor {
  let hash = 0x811c9dc5; // FNV-1a
  for (const char of name) {
    hash ^= char.codePointAt(0) ?? 0;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  const color = PALETTE[hash % PALETTE.length];
  return { color, light: `${color}33` };
}
