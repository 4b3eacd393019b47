-- CreateTable
CREATE TABLE "TrustedIssuer" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "issuer" TEXT NOT NULL,
    "jwksUri" TEXT,
    "jwks" TEXT,
    "audiences" TEXT NOT NULL,
    "algorithms" TEXT NOT NULL,
    "subjectClaim" TEXT NOT NULL DEFAULT 'sub',
    "maxTokenAge" INTEGER,
    "description" TEXT,
    "disabled" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE UNIQUE INDEX "TrustedIssuer_issuer_key" ON "TrustedIssuer"("issuer");
