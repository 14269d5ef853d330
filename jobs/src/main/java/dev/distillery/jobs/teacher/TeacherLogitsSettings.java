package dev.distillery.jobs.teacher;

import dev.distillery.distill.TopKLogits;
import java.io.Serializable;

/**
 * The validated configuration of the teacher-logits job, resolved to concrete paths.
 *
 * @param tokens the tokenize output read ({@code train/} shards and {@code manifest.json})
 * @param output the table's directory
 * @param tailSamples ids drawn from each position's tail beside the top k (0: a tail bucket instead)
 * @param seed seeds those draws
 * @param teacherFloat16 run the teacher in float16 (GPUs) instead of float32
 * @param batchSize rows of one length per teacher forward pass
 */
public record TeacherLogitsSettings(String teacher, String tokens, String output, int topK, TopKLogits.Values values,
    int tailSamples, long seed, boolean teacherFloat16, int batchSize, int chunkTokens, boolean overwrite)
    implements Serializable {}
