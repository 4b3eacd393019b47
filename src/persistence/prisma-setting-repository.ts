import type { SettingRepository } from '../shared/setting-repository.ts';
import type { Db } from './prisma-client.ts';
import { translateErrors } from './prisma-errors.ts';
import type { Gate } from './sqlite-gate.ts';

export function createPrismaSettingRepository(db: Db, gate: Gate): SettingRepository {
  return {
    get: (name) => gate.run(() => translateErrors(async () => (await db.serviceSetting.findUnique({ where: { name } }))?.value)),
    set: (name, value) => gate.run(() => translateErrors(async () => {
      await db.serviceSetting.upsert({ where: { name }, create: { name, value }, update: { value } });
    })),
  };
}
