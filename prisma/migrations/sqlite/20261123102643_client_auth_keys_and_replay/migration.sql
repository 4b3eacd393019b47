-- AlterTable
ALTER TABLE "Client" ADD COLUMN "tokenEndpointAuthSigningAlg" TEXT;

-- CreateTable
CREATE TABLE "ReplayEntry" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "expiresAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "ReplayEntry_expiresAt_idx" ON "ReplayEntry"("expiresAt");
