//! Scanning a corpus: parse + roll + tokens for every file. Uses `../shared/corpus` when it is
//! there (the figure in the notes), else the committed fixtures.

use std::path::{Path, PathBuf};

use continuo::corpus::{find_midi_files, scan};
use continuo::midi::ReadOptions;
use continuo::roll::{Grid, Vocab, VocabOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn corpus_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/corpus");
    let dir = if shared.is_dir() {
        shared
    } else {
        root.join("tests/fixtures")
    };
    find_midi_files(&[dir]).expect("corpus folder")
}

fn scan_and_tokenise(files: &[PathBuf]) -> usize {
    let result = scan(files, Grid::default(), ReadOptions::default(), |_| {});
    let vocab = Vocab::build(
        result.pieces.iter().flat_map(|p| p.roll.steps.iter()),
        true,
        VocabOptions::default(),
    );
    result
        .pieces
        .iter()
        .flat_map(|p| p.roll.steps.iter())
        .map(|c| vocab.id(c) as usize)
        .sum()
}

fn bench_scan(c: &mut Criterion) {
    let files = corpus_files();
    let result = scan(&files, Grid::default(), ReadOptions::default(), |_| {});
    let notes: usize = result.pieces.iter().map(|p| p.notes).sum();
    eprintln!("corpus: {} files, {} notes", files.len(), notes);

    let mut group = c.benchmark_group("corpus_scan");
    group.sample_size(10);
    group.throughput(Throughput::Elements(files.len() as u64));
    group.bench_function("files", |b| b.iter(|| scan_and_tokenise(&files)));
    group.throughput(Throughput::Elements(notes as u64));
    group.bench_function("notes", |b| b.iter(|| scan_and_tokenise(&files)));
    group.finish();
}

criterion_group!(benches, bench_scan);
criterion_main!(benches);
