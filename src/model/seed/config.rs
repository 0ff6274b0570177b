//! Every size of the network, stored in each model file so a file rebuilds its own network.

/// The sizes of the reference design. `vocab_size` comes from the training data; everything else
/// defaults to the reference values.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Config {
    /// Output size and embedding rows: REST, UNK and the chords of the vocabulary.
    pub vocab_size: usize,
    /// Context length in steps.
    pub window: usize,
    /// Embedding width.
    pub embedding: usize,
    /// Hidden size of each GRU direction (a bidirectional layer outputs twice this).
    pub hidden: usize,
    /// Band width of the self-attention: step t attends to t' in [t - width/2, t - width/2 + width).
    pub attention_width: usize,
    /// Width of the dense layer before the output.
    pub dense: usize,
    /// Dropout probability (training only).
    pub dropout: f32,
    /// Negative slope of the LeakyReLU after the dense layer.
    pub leaky_slope: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            vocab_size: 4096,
            window: 50,
            embedding: 100,
            hidden: 128,
            attention_width: 50,
            dense: 64,
            dropout: 0.3,
            leaky_slope: 0.3,
        }
    }
}

impl Config {
    /// Why the sizes cannot make a network, if they cannot.
    pub fn validate(&self) -> Result<(), String> {
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("window", self.window),
            ("embedding", self.embedding),
            ("hidden", self.hidden),
            ("attention_width", self.attention_width),
            ("dense", self.dense),
        ];
        for (name, value) in sizes {
            if value == 0 {
                return Err(format!("config {name} is 0"));
            }
            if value > 1 << 20 {
                return Err(format!("config {name} = {value} is absurdly large"));
            }
        }
        if self.vocab_size < 3 {
            return Err(format!(
                "config vocab_size {} leaves no chord besides REST and UNK",
                self.vocab_size
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("config dropout {} is not in [0, 1)", self.dropout));
        }
        if !self.leaky_slope.is_finite() {
            return Err("config leaky_slope is not finite".into());
        }
        Ok(())
    }
}
