// Image decoding with sharp (libvips): JPEG and PNG (and what else libvips reads) to RGB bytes.
import { readFile, stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { DetkdError } from '../core/errors.ts';

// One thread budget (see src/core/native.ts): libvips would start a thread per core for every
// image and cache decoded pixels. The loader gets its parallelism from its workers instead, so
// each decode runs on one libvips thread, and nothing is cached (every image is read once per
// epoch anyway). DETKD_VIPS_THREADS overrides.
sharp.concurrency(Number(process.env.DETKD_VIPS_THREADS ?? 1));
sharp.cache(false);

/** An 8-bit RGB image, interleaved: data is [H, W, 3]. */
export interface RgbImage {
  data: Uint8Array; // [H, W, 3]
  height: number;
  width: number;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'file not found';
    if (code === 'EACCES') return 'permission denied';
    if (code === 'EISDIR') return 'is a directory';
    return err.message.split('\n')[0] ?? String(err);
  }
  return String(err);
}

/**
 * Reads and decodes an image file to RGB. Grey images are expanded to 3 channels, alpha is
 * dropped (not composited), EXIF orientation is NOT applied (COCO boxes refer to the stored
 * pixel grid, as with OpenCV's IMREAD_IGNORE_ORIENTATION in mmdetection).
 * Throws DetkdError naming the file when it is missing, unreadable or corrupt.
 */
export async function decodeImageFile(path: string): Promise<RgbImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new DetkdError(`${path}: cannot read image (${describe(err)})`);
  }
  return decodeImageBytes(bytes, path);
}

/** Decodes encoded bytes (JPEG/PNG/...) to RGB; `name` is used in error messages. */
export async function decodeImageBytes(bytes: Uint8Array, name: string): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(bytes, { failOn: 'error' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    // Own the memory (sharp may hand back a slice of a pooled buffer), so it can be transferred.
    const own = new Uint8Array(info.height * info.width * 3);
    own.set(data.subarray(0, own.length));
    return { data: own, height: info.height, width: info.width };
  } catch (err) {
    throw new DetkdError(`${name}: corrupt or unsupported image (${describe(err)})`);
  }
}

/** Reads only the header: [h, w] of an image file. Throws DetkdError naming the file. */
export async function readImageSize(
  path: string,
): Promise<{ height: number; width: number; format: string }> {
  let meta: Metadata;
  try {
    meta = await sharp(path).metadata();
  } catch (err) {
    // Ask the file system, not sharp's message: sharp tells a missing file from an unreadable one
    // by reading libvips' process-wide error buffer, which concurrent header reads overwrite (a
    // missing file then reads as "unsupported image format").
    let why = describe(err);
    const gone = await stat(path).then(
      () => null,
      (e: NodeJS.ErrnoException) => e,
    );
    if (gone !== null) why = describe(gone);
    throw new DetkdError(`${path}: cannot read image header (${why})`);
  }
  if (meta.height === undefined || meta.width === undefined) {
    throw new DetkdError(`${path}: image header has no size`);
  }
  return { height: meta.height, width: meta.width, format: meta.format ?? 'unknown' };
}

/** Encodes an RGB image as PNG bytes. */
export async function encodePng(img: RgbImage, compressionLevel = 6): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png({ compressionLevel })
    .toBuffer();
}

/** Encodes an RGB image as JPEG bytes. */
export async function encodeJpeg(img: RgbImage, quality = 90): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .jpeg({ quality })
    .toBuffer();
}
