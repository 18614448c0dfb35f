// COCO category ids ↔ contiguous labels 0..C-1. Labels follow ascending category id (as
// mmdetection's cat2label and torchvision's remapping do), so the map is a function of the id set.

export interface CategoryInfo {
  id: number;
  name: string;
  supercategory?: string;
}

export class CategoryMap {
  /** Categories in label order: categories[label]. */
  readonly categories: readonly CategoryInfo[];
  private readonly byId: Map<number, number>;

  constructor(categories: readonly CategoryInfo[]) {
    this.categories = [...categories].sort((a, b) => a.id - b.id);
    this.byId = new Map(this.categories.map((c, i) => [c.id, i]));
    if (this.byId.size !== this.categories.length)
      throw new RangeError('CategoryMap: duplicate category ids');
  }

  /** Number of classes C. */
  get size(): number {
    return this.categories.length;
  }

  get names(): string[] {
    return this.categories.map((c) => c.name);
  }

  /** Contiguous label of a COCO category id, or undefined if unknown. */
  labelOf(categoryId: number): number | undefined {
    return this.byId.get(categoryId);
  }

  /** COCO category id of a contiguous label (for results files). Throws on out-of-range labels. */
  categoryIdOf(label: number): number {
    const c = this.categories[label];
    if (c === undefined) throw new RangeError(`CategoryMap: label ${label} out of range 0..${this.size - 1}`);
    return c.id;
  }
}
