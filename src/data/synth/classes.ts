// The synthetic dataset's classes. They differ in shape, colour and texture, and include pairs
// that are hard to tell apart, so a larger model has something to learn that a small one misses:
//   red_circle ↔ red_ellipse      same colour, circle vs slightly elliptic (aspect 1.25–1.45)
//   red_circle ↔ orange_circle    same shape, hue 0° vs 22°
//   green_triangle ↔ lime_triangle same shape, hue 125° vs 95°
//   blue_square ↔ blue_square_striped same shape and colour, solid vs stripes
// Category ids are 1..C in this order (labels 0..C-1).

export type ShapeKind =
  | 'circle'
  | 'ellipse'
  | 'square'
  | 'rectangle'
  | 'triangle'
  | 'diamond'
  | 'ring'
  | 'cross'
  | 'star'
  | 'hexagon';

export type Texture = 'solid' | 'stripes' | 'checker' | 'dots' | 'gradient';

export interface SynthClass {
  id: number;
  name: string;
  shape: ShapeKind;
  /** Base hue in degrees; each instance jitters it by at most ±hueJitter. */
  hue: number;
  sat: number;
  val: number;
  texture: Texture;
}

/** Per-instance colour jitter: small enough that hard pairs stay separable by colour. */
export const HUE_JITTER = 4;
export const SAT_JITTER = 0.08;
export const VAL_JITTER = 0.08;

export const SYNTH_CLASSES: readonly SynthClass[] = [
  { id: 1, name: 'red_circle', shape: 'circle', hue: 0, sat: 0.82, val: 0.86, texture: 'solid' },
  { id: 2, name: 'red_ellipse', shape: 'ellipse', hue: 0, sat: 0.82, val: 0.86, texture: 'solid' },
  { id: 3, name: 'orange_circle', shape: 'circle', hue: 22, sat: 0.85, val: 0.92, texture: 'solid' },
  { id: 4, name: 'blue_square', shape: 'square', hue: 218, sat: 0.78, val: 0.82, texture: 'solid' },
  { id: 5, name: 'blue_square_striped', shape: 'square', hue: 218, sat: 0.78, val: 0.82, texture: 'stripes' },
  { id: 6, name: 'green_triangle', shape: 'triangle', hue: 125, sat: 0.75, val: 0.72, texture: 'solid' },
  { id: 7, name: 'lime_triangle', shape: 'triangle', hue: 95, sat: 0.8, val: 0.8, texture: 'solid' },
  { id: 8, name: 'yellow_star', shape: 'star', hue: 52, sat: 0.85, val: 0.95, texture: 'solid' },
  { id: 9, name: 'purple_hexagon', shape: 'hexagon', hue: 275, sat: 0.65, val: 0.75, texture: 'checker' },
  { id: 10, name: 'magenta_ring', shape: 'ring', hue: 318, sat: 0.75, val: 0.85, texture: 'solid' },
  { id: 11, name: 'cyan_cross', shape: 'cross', hue: 186, sat: 0.8, val: 0.85, texture: 'solid' },
  { id: 12, name: 'brown_diamond', shape: 'diamond', hue: 28, sat: 0.7, val: 0.55, texture: 'dots' },
  { id: 13, name: 'teal_rectangle', shape: 'rectangle', hue: 168, sat: 0.75, val: 0.7, texture: 'gradient' },
];
