package dev.distillery.tokenize;

import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Writes a Megatron indexed dataset (what NeMo and Megatron-LM read): the {@code .bin} file is every
 * sequence's token ids back to back, little-endian, and the {@code .idx} file is
 * {@code "MMIDIDX\0\0"}, u64 version 1, u8 dtype code, u64 sequence count N, u64 document-index count
 * N + 1, int32[N] sequence lengths, int64[N] byte offsets into the {@code .bin}, int64[N + 1] document
 * index (here one document per sequence: 0, 1, ..., N). Sequences are added in order, then
 * {@link #writeIndex} writes the {@code .idx}.
 */
public final class MegatronWriter {
  static final byte[] MAGIC = "MMIDIDX\0\0".getBytes(StandardCharsets.US_ASCII);

  private final OutputStream bin;
  private final TokenDType dtype;
  private final ByteBuffer buffer = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
  private int[] lengths = new int[1024];
  private int sequences;

  /** Writes token ids to {@code bin} (not closed here). */
  public MegatronWriter(OutputStream bin, TokenDType dtype) {
    this.bin = bin;
    this.dtype = dtype;
  }

  /** Appends one sequence (a document). */
  public void add(int[] tokens) throws IOException {
    if (sequences == lengths.length) {
      lengths = Arrays.copyOf(lengths, lengths.length * 2);
    }
    lengths[sequences++] = tokens.length;
    for (int token : tokens) {
      if (buffer.remaining() < dtype.bytes()) {
        flushBuffer();
      }
      if (dtype == TokenDType.UINT16) {
        buffer.putShort((short) token);
      } else {
        buffer.putInt(token);
      }
    }
  }

  /** Flushes the token ids and writes the index of every sequence added to {@code idx} (closed here). */
  public void writeIndex(OutputStream idx) throws IOException {
    flushBuffer();
    bin.flush();
    try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(idx, 1 << 16))) {
      out.write(MAGIC);
      out.writeLong(Long.reverseBytes(1));
      out.writeByte(dtype.megatronCode());
      out.writeLong(Long.reverseBytes(sequences));
      out.writeLong(Long.reverseBytes(sequences + 1L));
      for (int i = 0; i < sequences; i++) {
        out.writeInt(Integer.reverseBytes(lengths[i]));
      }
      long offset = 0;
      for (int i = 0; i < sequences; i++) {
        out.writeLong(Long.reverseBytes(offset));
        offset += (long) lengths[i] * dtype.bytes();
      }
      for (long d = 0; d <= sequences; d++) {
        out.writeLong(Long.reverseBytes(d));
      }
    }
  }

  private void flushBuffer() throws IOException {
    bin.write(buffer.array(), 0, buffer.position());
    buffer.clear();
  }
}
