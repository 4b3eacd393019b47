-- AlterTable
ALTER TABLE "Client" ADD COLUMN     "tokenQuotaPerDay" INTEGER,
ADD COLUMN     "tokenQuotaPerHour" INTEGER;
