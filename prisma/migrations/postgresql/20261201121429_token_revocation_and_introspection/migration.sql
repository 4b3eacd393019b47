-- AlterTable
ALTER TABLE "Client" ADD COLUMN     "introspection" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "RevokedToken" (
    "jti" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "revokedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "RevokedToken_pkey" PRIMARY KEY ("jti")
);

-- CreateTable
CREATE TABLE "ClientTokenRevocation" (
    "clientId" TEXT NOT NULL,
    "issuedBefore" TIMESTAMP(3) NOT NULL,
    "revokedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ClientTokenRevocation_pkey" PRIMARY KEY ("clientId")
);

-- CreateIndex
CREATE INDEX "RevokedToken_expiresAt_idx" ON "RevokedToken"("expiresAt");

-- CreateIndex
CREATE INDEX "ClientTokenRevocation_expiresAt_idx" ON "ClientTokenRevocation"("expiresAt");
