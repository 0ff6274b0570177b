//! "Save phrase as MIDI": the last generated phrase as a .mid file a musician can drag into any
//! DAW. Runs on the GUI thread (file I/O never touches the audio thread).

use std::path::{Path, PathBuf};

use crate::midi::{write_file, Note, SmfFormat, WriteOptions};

/// `~/Continuo`, where saved phrases go; the system's temporary folder when there is no home.
pub fn default_folder() -> PathBuf {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(|home| PathBuf::from(home).join("Continuo"))
        .unwrap_or_else(|| std::env::temp_dir().join("Continuo"))
}

/// `continuo-2026-11-25-041233.mid`: sortable, unique to the second.
pub fn phrase_file_name(now: chrono::NaiveDateTime) -> String {
    format!("continuo-{}.mid", now.format("%Y-%m-%d-%H%M%S"))
}

/// What to write: the phrase's notes and where they sit in the host's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct PhraseExport<'a> {
    pub notes: &'a [Note],
    pub phrase_start: f64,
    pub tempo_bpm: f64,
    pub time_signature: (u8, u8),
}

/// Writes the phrase into `folder` (created if missing) and returns the file's path. The file
/// starts at the bar the phrase starts in, so the notes keep their place in the bar when the
/// file is dropped on a bar line.
pub fn save_phrase(
    phrase: &PhraseExport,
    folder: &Path,
    now: chrono::NaiveDateTime,
) -> Result<PathBuf, String> {
    if phrase.notes.is_empty() {
        return Err("there is no generated phrase to save yet".to_string());
    }
    std::fs::create_dir_all(folder)
        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let beats_per_bar = super::geometry::beats_per_bar(Some(phrase.time_signature));
    let bar_start = (phrase.phrase_start / beats_per_bar).floor() * beats_per_bar;
    let shifted: Vec<Note> = phrase
        .notes
        .iter()
        .map(|n| Note {
            start_beats: n.start_beats - bar_start,
            end_beats: n.end_beats - bar_start,
            ..*n
        })
        .collect();
    let mut path = folder.join(phrase_file_name(now));
    let mut counter = 2;
    while path.exists() {
        path = folder.join(phrase_file_name(now).replace(".mid", &format!("-{counter}.mid")));
        counter += 1;
    }
    let options = WriteOptions {
        format: SmfFormat::MultiTrack,
        tempo_bpm: phrase.tempo_bpm,
        time_signature: phrase.time_signature,
        channel: 0,
    };
    write_file(&path, &shifted, &options)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::midi::{read_file, ReadOptions};

    fn now() -> chrono::NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 25)
            .unwrap()
            .and_hms_opt(4, 12, 33)
            .unwrap()
    }

    #[test]
    fn file_name_has_date_and_time() {
        assert_eq!(phrase_file_name(now()), "continuo-2026-11-25-041233.mid");
    }

    #[test]
    fn saved_phrase_reads_back_from_its_bar() {
        let dir = tempfile::tempdir().unwrap();
        let notes = [
            Note {
                pitch: 60,
                start_beats: 9.0,
                end_beats: 10.0,
                velocity: 90,
            },
            Note {
                pitch: 64,
                start_beats: 9.5,
                end_beats: 11.0,
                velocity: 70,
            },
        ];
        let phrase = PhraseExport {
            notes: &notes,
            phrase_start: 9.0,
            tempo_bpm: 96.0,
            time_signature: (4, 4),
        };
        let path = save_phrase(&phrase, &dir.path().join("sub"), now()).unwrap();
        let song = read_file(&path, ReadOptions::default()).unwrap();
        assert_eq!(
            song.notes[0],
            Note {
                pitch: 60,
                start_beats: 1.0,
                end_beats: 2.0,
                velocity: 90
            }
        );
        assert_eq!(
            song.notes[1],
            Note {
                pitch: 64,
                start_beats: 1.5,
                end_beats: 3.0,
                velocity: 70
            }
        );
        assert!((song.tempo_bpm - 96.0).abs() < 0.01);
        // A second save in the same second gets its own name.
        let again = save_phrase(&phrase, &dir.path().join("sub"), now()).unwrap();
        assert_ne!(again, path);
    }

    #[test]
    fn empty_phrase_is_refused_in_words() {
        let phrase = PhraseExport {
            notes: &[],
            phrase_start: 0.0,
            tempo_bpm: 120.0,
            time_signature: (4, 4),
        };
        let err = save_phrase(&phrase, Path::new("/nonexistent"), now()).unwrap_err();
        assert!(err.contains("no generated phrase"));
    }
}
