-- CreateTable
CREATE TABLE "TrustedIssuer" (
    "id" TEXT NOT NULL,
    "issuer" TEXT NOT NULL,
    "jwksUri" TEXT,
    "jwks" TEXT,
    "audiences" TEXT NOT NULL,
    "algorithms" TEXT NOT NULL,
    "subjectClaim" TEXT NOT NULL DEFAULT 'sub',
    "maxTokenAge" INTEGER,
    "description" TEXT,
    "disabled" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "TrustedIssuer_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "TrustedIssuer_issuer_key" ON "TrustedIssuer"("issuer");
