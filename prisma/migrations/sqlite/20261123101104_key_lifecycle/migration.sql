-- AlterTable
ALTER TABLE "SigningKey" ADD COLUMN "nextSlot" INTEGER;

-- CreateIndex
CREATE UNIQUE INDEX "SigningKey_nextSlot_key" ON "SigningKey"("nextSlot");
