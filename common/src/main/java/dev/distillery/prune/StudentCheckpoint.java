package dev.distillery.prune;

import dev.distillery.io.DType;
import dev.distillery.io.Storage;

/**
 * Where and how {@link CheckpointPruner} writes the student.
 *
 * @param storage the output's file system
 * @param directory the checkpoint directory, committed atomically
 * @param dtype the stored dtype, or null to keep the teacher's
 * @param maxShardBytes largest safetensors shard, in bytes
 * @param overwrite whether an existing committed checkpoint there may be replaced
 */
public record StudentCheckpoint(Storage storage, String directory, DType dtype, long maxShardBytes,
    boolean overwrite) {}
