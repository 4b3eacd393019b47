-- CreateTable
CREATE TABLE "RevokedToken" (
    "jti" TEXT NOT NULL PRIMARY KEY,
    "clientId" TEXT NOT NULL,
    "revokedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "ClientTokenRevocation" (
    "clientId" TEXT NOT NULL PRIMARY KEY,
    "issuedBefore" DATETIME NOT NULL,
    "revokedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" DATETIME NOT NULL
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Client" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "identityKey" TEXT NOT NULL,
    "clientName" TEXT NOT NULL,
    "tokenEndpointAuthMethod" TEXT NOT NULL,
    "grantTypes" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "audience" TEXT NOT NULL,
    "accessTokenTtl" INTEGER,
    "subject" TEXT NOT NULL,
    "jwks" TEXT,
    "jwksUri" TEXT,
    "tokenEndpointAuthSigningAlg" TEXT,
    "tlsClientAuthSubjectDn" TEXT,
    "tlsClientAuthSanDns" TEXT,
    "tlsClientAuthSanUri" TEXT,
    "tlsClientAuthSanIp" TEXT,
    "tlsClientAuthSanEmail" TEXT,
    "tokenExchange" TEXT,
    "introspection" BOOLEAN NOT NULL DEFAULT false,
    "federatedCredential" TEXT,
    "disabled" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
INSERT INTO "new_Client" ("accessTokenTtl", "audience", "clientName", "createdAt", "disabled", "federatedCredential", "grantTypes", "id", "identityKey", "jwks", "jwksUri", "scope", "subject", "tlsClientAuthSanDns", "tlsClientAuthSanEmail", "tlsClientAuthSanIp", "tlsClientAuthSanUri", "tlsClientAuthSubjectDn", "tokenEndpointAuthMethod", "tokenEndpointAuthSigningAlg", "tokenExchange", "updatedAt") SELECT "accessTokenTtl", "audience", "clientName", "createdAt", "disabled", "federatedCredential", "grantTypes", "id", "identityKey", "jwks", "jwksUri", "scope", "subject", "tlsClientAuthSanDns", "tlsClientAuthSanEmail", "tlsClientAuthSanIp", "tlsClientAuthSanUri", "tlsClientAuthSubjectDn", "tokenEndpointAuthMethod", "tokenEndpointAuthSigningAlg", "tokenExchange", "updatedAt" FROM "Client";
DROP TABLE "Client";
ALTER TABLE "new_Client" RENAME TO "Client";
CREATE UNIQUE INDEX "Client_identityKey_key" ON "Client"("identityKey");
CREATE UNIQUE INDEX "Client_subject_key" ON "Client"("subject");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE INDEX "RevokedToken_expiresAt_idx" ON "RevokedToken"("expiresAt");

-- CreateIndex
CREATE INDEX "ClientTokenRevocation_expiresAt_idx" ON "ClientTokenRevocation"("expiresAt");
