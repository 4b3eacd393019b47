-- AlterTable
ALTER TABLE "Client" ADD COLUMN "tokenExchange" TEXT;
