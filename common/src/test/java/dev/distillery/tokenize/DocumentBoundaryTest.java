package dev.distillery.tokenize;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class DocumentBoundaryTest {
  @Test
  void lineModeKeepsEveryNonBlankLine() {
    assertThat(DocumentBoundary.LINE.split("\uFEFFone\n\n  \ntwo\r\nthree\n")).containsExactly("one", "two", "three");
  }

  @Test
  void linesEndAtLineFeedsWithOrWithoutACarriageReturn() {
    assertThat(DocumentBoundary.LINE.split("a\rb\r\r\nc\r\n\r\nd")).containsExactly("a\rb\r", "c", "d");
  }

  @Test
  void blankLineModeJoinsParagraphLines() {
    assertThat(DocumentBoundary.BLANK_LINE.split("a1\na2\n\n \n\nb1\n")).containsExactly("a1\na2", "b1");
  }

  @Test
  void wikiTextTitlesStartDocumentsAndSectionsStayInside() {
    String text = "\uFEFF \n = First = \n \n Intro . \n \n = = Section = = \n Body . \n = Second = \n Text . \n \n";
    assertThat(DocumentBoundary.WIKITEXT.split(text)).containsExactly(
        " = First = \n \n Intro . \n \n = = Section = = \n Body . ", " = Second = \n Text . ");
  }

  @Test
  void wikiTextBeforeTheFirstTitleIsADocument() {
    assertThat(DocumentBoundary.WIKITEXT.split("preamble\n = T = \nx")).containsExactly("preamble", " = T = \nx");
  }

  @Test
  void optionNamesRoundTrip() {
    for (DocumentBoundary b : DocumentBoundary.values()) {
      assertThat(DocumentBoundary.fromOptionName(b.optionName())).isEqualTo(b);
    }
    assertThat(DocumentBoundary.BLANK_LINE.optionName()).isEqualTo("blank-line");
  }
}
