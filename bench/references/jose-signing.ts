import type { SigningAlg } from '../options.ts';
import { generateBenchKey, signAccessToken } from '../token-claims.ts';

/** In-process signing rate: `concurrency` loops each awaiting one signature at a time. */
export async function measureJoseSigning(alg: SigningAlg, concurrency: number, seconds: number): Promise<number> {
  const key = await generateBenchKey(alg);
  const issuer = 'http://127.0.0.1';
  for (let i = 0; i < 200; i++) await signAccessToken(key, issuer); // warm-up: JIT and key import caches
  let signed = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const loop = async () => {
    while (performance.now() < deadline) {
      await signAccessToken(key, issuer);
      signed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return signed / ((performance.now() - started) / 1000);
}
