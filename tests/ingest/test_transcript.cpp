// WebVTT, SRT and plain-log transcripts against hand-written fixtures.
#include <doctest/doctest.h>

#include <string>

#include "ingest/text_util.hpp"
#include "ingest/transcript.hpp"
#include "runtime/common/error.hpp"

using namespace folio::ingest;

namespace {

std::string fixture(const std::string& name) {
  return read_file_limited(std::string(FOLIO_TEST_DATA) + "/transcripts/" + name, Limits{});
}

const CueLocation& cue(const Document& d, size_t i) { return std::get<CueLocation>(d.blocks.at(i).where); }

// The error message of parsing `text`, or "" when it parses.
template <class F>
std::string error_of(F&& parse) {
  try {
    parse();
  } catch (const folio::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("timestamps: WebVTT, SRT and log forms; garbage refused") {
  CHECK(parse_timestamp("00:04.250") == 4250);
  CHECK(parse_timestamp("01:00:10.000") == 3610000);
  CHECK(parse_timestamp("00:00:03,500") == 3500);
  CHECK(parse_timestamp("1:02:03") == 3723000);
  CHECK(parse_timestamp("00:01:02.5") == 62500);
  CHECK(parse_timestamp("123:00:00.000") == 123LL * 3600000);
  CHECK_FALSE(parse_timestamp("00:60.000"));
  CHECK_FALSE(parse_timestamp("00:0x.500"));
  CHECK_FALSE(parse_timestamp("12"));
  CHECK_FALSE(parse_timestamp("1:2:3:4"));
  CHECK_FALSE(parse_timestamp("00:01.0000"));
  CHECK_FALSE(parse_timestamp(""));
  CHECK_FALSE(parse_timestamp("00:01.500 "));
}

TEST_CASE("WebVTT: voices, settings, NOTE/STYLE, hourless times, overlaps, multi-voice cues") {
  const Document d = parse_webvtt(fixture("meeting.vtt"), "meeting.vtt");
  CHECK(d.format == SourceFormat::webvtt);
  REQUIRE(d.blocks.size() == 7);
  CHECK(d.blocks[0].text == "Welcome, everyone, to the quarterly review.");
  CHECK(cue(d, 0).speaker == "Alice Chen");
  CHECK(cue(d, 0).start_ms == 0);
  CHECK(cue(d, 0).end_ms == 4250);
  CHECK(cue(d, 0).line == 12);
  CHECK(d.blocks[1].text == "Let's start with revenue & costs.");
  // Overlapping cue (6.5 s starts before 7 s ends) is kept with its own times.
  CHECK(cue(d, 2).speaker == "Bob");
  CHECK(cue(d, 2).start_ms == 6500);
  CHECK(cue(d, 1).end_ms > cue(d, 2).start_ms);
  CHECK(cue(d, 3).start_ms == 3610000);
  CHECK(d.blocks[3].text == "Costs were flat. Mostly.");
  // One cue with two voices: two blocks, same times.
  CHECK(cue(d, 4).speaker == "Alice Chen");
  CHECK(d.blocks[4].text == "Good.");
  CHECK(cue(d, 5).speaker == "Carol");
  CHECK(d.blocks[5].text == "Agreed.");
  CHECK(cue(d, 5).start_ms == 10000);
  // No speaker at all.
  CHECK(cue(d, 6).speaker.empty());
  // Turns: Alice, Bob, Alice, Carol, unknown.
  REQUIRE(d.outline.size() == 5);
  CHECK(d.outline[0].title == "Alice Chen");
  CHECK(d.outline[0].kind == AnchorKind::speaker_turn);
  CHECK(d.outline[0].label() == "00:00:00.000 Alice Chen");
  CHECK(d.outline[1].title == "Bob");
  CHECK(d.outline[1].block == 2);
  CHECK(d.outline[4].title == "(unknown speaker)");
  CHECK_FALSE(d.blocks[1].anchor.has_value());  // same speaker continues the turn
  CHECK(d.enclosing_anchor(3) == AnchorId(1));
  CHECK(d.content_hash.size() == 64);
}

TEST_CASE("SRT: BOM, CRLF, positions, override tags, speaker prefixes, cue without speaker") {
  const Document d = parse_srt(fixture("film.srt"), "film.srt");
  REQUIRE(d.blocks.size() == 4);
  CHECK(d.blocks[0].text == "Good morning.");
  CHECK(cue(d, 0).speaker == "DAVID");
  CHECK(cue(d, 0).start_ms == 1000);
  CHECK(cue(d, 0).end_ms == 3500);
  CHECK(cue(d, 1).speaker == "DAVID");
  CHECK(d.blocks[2].text == "Yes. Let's go.");
  CHECK(cue(d, 2).speaker == "EVE");
  CHECK(cue(d, 2).start_ms == 4800);  // overlaps the previous cue
  CHECK(cue(d, 3).speaker.empty());
  CHECK(d.blocks[3].text == "(door closes)");
  CHECK(d.outline.size() == 3);  // DAVID, EVE, unknown
  for (const auto& b : d.blocks) CHECK(b.text.find('\r') == std::string::npos);
}

TEST_CASE("plain logs: [time] Speaker lines, continuation lines, hour-less times, missing speakers") {
  const Document d = parse_plain_transcript(fixture("chat.log"), "chat.log");
  REQUIRE(d.blocks.size() == 6);
  CHECK(cue(d, 0).speaker == "Alice");
  CHECK(cue(d, 0).start_ms == 5000);
  CHECK(cue(d, 0).end_ms == 9000);
  CHECK(d.blocks[2].text == "It took two tries.");  // continuation keeps Bob
  CHECK(cue(d, 2).speaker == "Bob");
  CHECK(cue(d, 2).line == 3);
  CHECK(cue(d, 3).start_ms == 62500);
  CHECK(cue(d, 4).start_ms == 3723000);
  CHECK(cue(d, 5).speaker.empty());
  CHECK(d.blocks[5].text == "(recording paused)");
  REQUIRE(d.outline.size() == 4);  // Alice, Bob, Alice, unknown
  CHECK(d.outline[2].number == "01:02:03.000");
  CHECK(looks_like_plain_transcript(fixture("chat.log")));

  const Document s = parse_plain_transcript(fixture("simple_speakers.txt"), "simple_speakers.txt");
  REQUIRE(s.blocks.size() == 5);
  CHECK(cue(s, 2).speaker == "Jane Doe");
  CHECK(s.outline.size() == 4);
  CHECK(s.outline[1].title == "Jane Doe");
  CHECK(looks_like_plain_transcript(fixture("simple_speakers.txt")));
  CHECK_FALSE(looks_like_plain_transcript("This is a normal paragraph of prose.\nIt has no speakers at all.\n"));
}

TEST_CASE("malformed input: errors name the file and line") {
  CHECK(error_of([] { parse_webvtt(fixture("bad_timestamp.vtt"), "bad_timestamp.vtt"); }) ==
        "bad_timestamp.vtt:6: malformed end timestamp '00:0x.500'");
  CHECK(error_of([] { parse_srt(fixture("bad_timestamp.srt"), "bad_timestamp.srt"); }) ==
        "bad_timestamp.srt:6: malformed start timestamp '00:00:61,000'");
  CHECK(error_of([] { parse_plain_transcript(fixture("bad_timestamp.log"), "bad_timestamp.log"); }) ==
        "bad_timestamp.log:3: malformed timestamp '00:99:00'");
  CHECK(error_of([] { parse_webvtt(fixture("not_vtt.vtt"), "not_vtt.vtt"); }) ==
        "not_vtt.vtt:1: not a WebVTT file: the first line must be 'WEBVTT'");
  CHECK(error_of([] { parse_webvtt(fixture("backwards.vtt"), "backwards.vtt"); }).starts_with("backwards.vtt:3: cue ends"));
  CHECK(error_of([] { parse_srt("1\nhello\n", "x.srt"); }) == "x.srt:2: expected a cue timing line 'start --> end'");
  CHECK(error_of([] { parse_srt("one\n00:00:01,000 --> 00:00:02,000\nhi\n", "x.srt"); }).starts_with("x.srt:1: expected a cue number"));
  CHECK(error_of([] { parse_webvtt("WEBVTT\n\nid-only\n", "x.vtt"); }).starts_with("x.vtt:"));
  Limits small;
  small.max_line_bytes = 25;
  CHECK(error_of([&] { parse_webvtt("WEBVTT\n\n00:00.000 --> 00:01.000\nthis line is much too long for it\n", "x.vtt", small); }) ==
        "x.vtt:4: line of 33 bytes exceeds the limit of 25 (Limits::max_line_bytes)");
}

TEST_CASE("empty and odd inputs") {
  CHECK(parse_webvtt("WEBVTT", "e.vtt").blocks.empty());
  CHECK(parse_webvtt("\xEF\xBB\xBFWEBVTT\r\n\r\n", "e.vtt").blocks.empty());
  CHECK(parse_srt("", "e.srt").blocks.empty());
  CHECK(parse_plain_transcript("", "e.txt").blocks.empty());
  // Invalid UTF-8 is replaced and noted, never passed through.
  const Document d = parse_srt("1\n00:00:01,000 --> 00:00:02,000\nbad \xFF byte\n", "u.srt");
  REQUIRE(d.blocks.size() == 1);
  CHECK(d.blocks[0].text == "bad \xEF\xBF\xBD byte");
  REQUIRE(d.notes.size() == 1);
  CHECK(d.notes[0].find("invalid UTF-8") != std::string::npos);
  // NFC: "e" + combining acute becomes U+00E9.
  const Document n = parse_srt("1\n00:00:01,000 --> 00:00:02,000\nCafe\xCC\x81\n", "n.srt");
  CHECK(n.blocks[0].text == "Caf\xC3\xA9");
  // Entities and a lone '<'.
  const Document e = parse_webvtt("WEBVTT\n\n00:00.000 --> 00:01.000\na &lt; b &#x263A; &#9731; < c\n", "e.vtt");
  CHECK(e.blocks[0].text == "a < b \xE2\x98\xBA \xE2\x98\x83 < c");
}
