package dev.distillery.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class PackingTest {
  @Test
  void documentsAreCutIntoRowsAndTheTailIsDropped() {
    int[][] documents = {{1, 2, 3}, {4, 5, 6, 7, 8}, {9, 10}};
    Packing packing = new Packing(4, 10);
    assertThat(packing.rows()).isEqualTo(2);
    assertThat(packing.droppedTokens()).isEqualTo(2);

    List<Packing.Fragment> fragments = new ArrayList<>();
    long position = 0;
    for (int[] doc : documents) {
      fragments.addAll(packing.fragments(position, doc));
      position += doc.length;
    }
    assertThat(fragments).extracting(Packing.Fragment::row, Packing.Fragment::column).containsExactly(
        org.assertj.core.groups.Tuple.tuple(0L, 0), org.assertj.core.groups.Tuple.tuple(0L, 3),
        org.assertj.core.groups.Tuple.tuple(1L, 0));
    List<int[]> rows = new ArrayList<>();
    packing.rows(fragments.iterator()).forEachRemaining(rows::add);
    assertThat(rows).containsExactly(new int[] {1, 2, 3, 4}, new int[] {5, 6, 7, 8});
  }

  @Test
  void aLongDocumentSpansSeveralRows() {
    Packing packing = new Packing(3, 8);
    assertThat(packing.fragments(1, new int[] {1, 2, 3, 4, 5, 6, 7}))
        .extracting(Packing.Fragment::tokens).containsExactly(new int[] {1, 2}, new int[] {3, 4, 5});
  }

  @Test
  void rowsRefuseMissingOrMisplacedFragments() {
    Packing packing = new Packing(4, 8);
    List<Packing.Fragment> gap = List.of(new Packing.Fragment(0, 0, new int[] {1, 2}),
        new Packing.Fragment(0, 3, new int[] {3, 4}));
    assertThatThrownBy(() -> packing.rows(gap.iterator()).next()).isInstanceOf(IllegalStateException.class)
        .hasMessage("expected row 0 column 2, got row 0 column 3");
    List<Packing.Fragment> shortRow = List.of(new Packing.Fragment(0, 0, new int[] {1, 2}));
    assertThatThrownBy(() -> packing.rows(shortRow.iterator()).next()).hasMessage("row 0 ends after 2 of 4 tokens");
  }

  @Test
  void bosAlignedRowsStartWithTheRowStartTokenAndDocumentsFlowAcrossRows() {
    int bos = 100;
    int[][] documents = {{1, 2, 3}, {4, 5, 6, 7, 8}, {9, 10}};
    Packing packing = new Packing(4, 10, bos); // each row: BOS + 3 stream tokens
    assertThat(packing.rows()).isEqualTo(3);
    assertThat(packing.droppedTokens()).isEqualTo(1);

    List<Packing.Fragment> fragments = new ArrayList<>();
    long position = 0;
    for (int[] doc : documents) {
      fragments.addAll(packing.fragments(position, doc));
      position += doc.length;
    }
    fragments.sort(java.util.Comparator.comparingLong(packing::position));
    List<int[]> rows = new ArrayList<>();
    packing.rows(fragments.iterator()).forEachRemaining(rows::add);
    assertThat(rows).containsExactly(new int[] {bos, 1, 2, 3}, new int[] {bos, 4, 5, 6}, new int[] {bos, 7, 8, 9});
  }

  @Test
  void bosAlignedRowsNeedRoomForTwoStreamTokens() {
    assertThatThrownBy(() -> new Packing(2, 10, 7)).hasMessage("row length must be at least 3, got 2");
  }
}
