/**
 * Collective operations for synchronous data-parallel training without NCCL: a TCP ring all-reduce between
 * ranks ({@link dev.distillery.collective.RingAllReduce}), a reduction across devices inside one process
 * ({@link dev.distillery.collective.LocalReducer}), and the {@link dev.distillery.collective.Rendezvous}
 * through which ranks find each other (Spark's barrier {@code allGather} on a cluster, {@link
 * dev.distillery.collective.LocalRendezvous} for ranks in one JVM).
 */
package dev.distillery.collective;
