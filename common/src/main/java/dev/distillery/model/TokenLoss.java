package dev.distillery.model;

import ai.djl.ndarray.NDArray;

/**
 * A language-model loss over a batch.
 *
 * @param mean scalar float32 mean over the counted tokens (0 when there are none); differentiable
 * @param tokens how many target tokens were counted (those not equal to the ignore index)
 */
public record TokenLoss(NDArray mean, long tokens) {}
