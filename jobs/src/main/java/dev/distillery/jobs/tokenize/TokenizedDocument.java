package dev.distillery.jobs.tokenize;

import java.io.Serializable;

/**
 * One encoded document.
 *
 * @param split index of its split in {@link TokenizeJob#SPLITS} (0 train, 1 valid)
 * @param ids its token ids, BOS and EOD included
 */
record TokenizedDocument(int split, int[] ids) implements Serializable {}
