-- AlterTable
ALTER TABLE "Client" ADD COLUMN     "tokenEndpointAuthSigningAlg" TEXT;

-- CreateTable
CREATE TABLE "ReplayEntry" (
    "key" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ReplayEntry_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "ReplayEntry_expiresAt_idx" ON "ReplayEntry"("expiresAt");
