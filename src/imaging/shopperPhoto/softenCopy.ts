import sharp from 'sharp';

/**
 * A TUNE-side training style that loses detail as a small, soft phone picture does: the copy reduced to a quarter to 60% of
 * its size and enlarged back (libvips, Mitchell or cubic; JPEG at quality 70-92). The held-out `resample` style delivers the
 * photo small (nearest, linear or Lanczos, often JPEG-compressed twice) and is never drawn here; this only teaches the
 * refinement that a product seen through fewer pixels is the same product (docs/relevance.md, issue 21).
 */
export async function softenCopy(jpeg: Buffer, rng: () => number): Promise<Buffer> {
  const { width, height } = await sharp(jpeg).metadata();
  if (!width || !height) return jpeg;
  const factor = 0.25 + 0.35 * rng();
  const kernel = rng() < 0.5 ? 'mitchell' : 'cubic';
  const quality = Math.round(70 + 22 * rng());
  const small = await sharp(jpeg).resize(Math.max(8, Math.round(width * factor)), Math.max(8, Math.round(height * factor)), { kernel }).raw().toBuffer({ resolveWithObject: true });
  return sharp(small.data, { raw: { width: small.info.width, height: small.info.height, channels: small.info.channels } })
    .resize(width, height, { kernel })
    .jpeg({ quality, chromaSubsampling: '4:2:0' })
    .toBuffer();
}
