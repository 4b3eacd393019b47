-- AlterTable
ALTER TABLE "Client" ADD COLUMN "federatedCredential" TEXT;
