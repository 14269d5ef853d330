package dev.distillery.tokenize;

/** How token ids are stored in Megatron {@code .bin} files; its code is the one in the {@code .idx} header. */
public enum TokenDType {
  /** Two bytes per token, for vocabularies up to {@value #UINT16_MAX_VOCAB} ids (Megatron's own limit). */
  UINT16(8, 2),
  /** Four bytes per token. */
  INT32(4, 4);

  /** Largest vocabulary Megatron stores as uint16 (it switches to int32 above this). */
  public static final int UINT16_MAX_VOCAB = 65500;

  private final int megatronCode;
  private final int bytes;

  TokenDType(int megatronCode, int bytes) {
    this.megatronCode = megatronCode;
    this.bytes = bytes;
  }

  /** The dtype code of the Megatron {@code .idx} header. */
  public int megatronCode() {
    return megatronCode;
  }

  /** Bytes per token. */
  public int bytes() {
    return bytes;
  }

  /** The lower-case name used in options and manifests. */
  public String optionName() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }

  /**
   * The dtype for a vocabulary: {@code auto} picks uint16 up to {@value #UINT16_MAX_VOCAB} ids, else int32.
   *
   * @param requested {@code auto}, {@code uint16} or {@code int32}
   * @throws IllegalArgumentException when the requested dtype cannot hold every id of the vocabulary
   */
  public static TokenDType forVocabulary(String requested, int vocabSize) {
    TokenDType auto = vocabSize > UINT16_MAX_VOCAB ? INT32 : UINT16;
    if (requested.equals("auto")) {
      return auto;
    }
    TokenDType chosen = valueOf(requested.toUpperCase(java.util.Locale.ROOT));
    if (chosen == UINT16 && vocabSize > UINT16_MAX_VOCAB) {
      throw new IllegalArgumentException("option 'token-dtype': uint16 cannot hold a vocabulary of " + vocabSize
          + " ids (uint16 is for at most " + UINT16_MAX_VOCAB + "); use int32 or auto");
    }
    return chosen;
  }
}
