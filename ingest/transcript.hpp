// Transcripts: WebVTT, SRT and plain "Speaker: text" / "[hh:mm:ss] Speaker: text"
// logs. Each cue (or log line) becomes a transcript_cue block with CueLocation
// provenance (start/end time, speaker, line); a change of speaker opens a
// speaker_turn anchor (number = start time, title = speaker).
//
// Errors name "source:line" (malformed timestamps, a cue without timing, a
// missing WEBVTT header). Markup inside cues (<b>, <i>, <c.x>, <00:01.000>,
// {\an8}, <font ...>) is removed; HTML entities are decoded; text is NFC.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ingest/document.hpp"

namespace folio::ingest {

Document parse_webvtt(std::string_view bytes, std::string source, const Limits& limits = {});
Document parse_srt(std::string_view bytes, std::string source, const Limits& limits = {});
Document parse_plain_transcript(std::string_view bytes, std::string source, const Limits& limits = {});

// Parses a timestamp as WebVTT ("mm:ss.ttt" or "h+:mm:ss.ttt"), SRT
// ("hh:mm:ss,ttt") or a log ("h:mm:ss", "mm:ss", optional ".ttt"/",ttt");
// returns milliseconds, or nullopt when `text` is not exactly a timestamp.
std::optional<int64_t> parse_timestamp(std::string_view text);

// Whether a plain-text buffer looks like a speaker log: most non-blank lines of
// its first 50 start with "[time]", "time" or "Speaker:".
bool looks_like_plain_transcript(std::string_view bytes);

}  // namespace folio::ingest
