package dev.distillery.tokenize;

/**
 * What one split (train or valid) holds.
 *
 * @param documents documents kept in the split
 * @param tokens their tokens, BOS and EOD included
 * @param sequences Parquet rows: packed sequences, or documents when packing is off
 * @param droppedTokens tokens of the final partial packed sequence, which no row holds
 * @param shards Parquet files
 */
public record SplitSummary(long documents, long tokens, long sequences, long droppedTokens, int shards) {}
