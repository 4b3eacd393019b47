-- AlterTable
ALTER TABLE "Client" ADD COLUMN "tokenQuotaPerDay" INTEGER;
ALTER TABLE "Client" ADD COLUMN "tokenQuotaPerHour" INTEGER;
