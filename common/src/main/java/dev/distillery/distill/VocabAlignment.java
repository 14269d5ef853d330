package dev.distillery.distill;

/**
 * Whether a teacher and a student may be distilled despite different {@code vocab_size}s: only when they share one
 * tokenizer (equal {@code tokenizer.json} hashes), so the larger vocabulary differs only by padding rows at the end
 * (Qwen2.5-7B's 152,064 vs Qwen2.5-0.5B's 151,936 ids). {@link ChunkedLogitLoss} then compares the first
 * {@code min(vocab)} ids.
 */
public final class VocabAlignment {
  private VocabAlignment() {}

  /**
   * Returns the ids the KD loss compares: the common vocabulary.
   *
   * @param teacherTokenizerSha sha256 of the teacher's {@code tokenizer.json}, or null when it has none
   * @param studentTokenizerSha sha256 of the student's {@code tokenizer.json}, or null when it has none
   * @throws IllegalArgumentException naming both checkpoints when the vocabularies differ and the tokenizers are not
   *     known to be the same
   */
  public static int commonVocab(String teacher, int teacherVocab, String teacherTokenizerSha, String student,
      int studentVocab, String studentTokenizerSha) {
    if (teacherVocab == studentVocab) {
      return teacherVocab;
    }
    String sizes = "teacher " + teacher + " has vocab_size " + teacherVocab + " but student " + student + " has "
        + studentVocab;
    if (teacherTokenizerSha == null || studentTokenizerSha == null) {
      throw new IllegalArgumentException(sizes + ", and without tokenizer.json in both (missing in "
          + (teacherTokenizerSha == null ? teacher : student) + ") they cannot be shown to share a tokenizer");
    }
    if (!teacherTokenizerSha.equals(studentTokenizerSha)) {
      throw new IllegalArgumentException(sizes + ", and their tokenizer.json differ (sha256 " + teacherTokenizerSha
          + " vs " + studentTokenizerSha + "): a different tokenizer, not padding");
    }
    return Math.min(teacherVocab, studentVocab);
  }
}
