"""Settings shared by every dataset (Zong et al. 2018, sec. 4); configs override.

All datasets: Adam with learning rate 1e-4, lambda1 = 0.1, lambda2 = 0.005,
tanh hidden activations, linear code and output layers, estimation dropout
keep-probability 0.5.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  # Data and protocol.
  config.dataset = ''              # a name of dagmm_jax.data.DATASETS
  config.protocol = 'paper'        # 'paper' (50/50 split of all rows) or 'goad'
  config.max_anomalies = 0         # > 0: draw this many anomaly rows per seed
  config.scaling = 'minmax'        # 'none' | 'minmax' | 'zscore'; training rows only
  config.constant_columns = 'shift'  # columns constant over the training rows: 'shift' | 'zero'
  config.kdd_symbolic = 'strings'  # KDDCUP one-hot: 'strings' (118 dims) | 'all' (121 dims)
  config.rho = 0.2                 # paper protocol: flag the top rho test energies
  # Seeds: seed, seed + 1, ..., trained together in one vmap-ed program.
  config.seed = 0                  # the first seed (split, initialisation, batches)
  config.num_seeds = 1             # seeds trained together (--seeds sets it)
  config.seed_chunk = 0            # > 0: at most this many seeds per program
  # Networks.
  config.model = ml_collections.ConfigDict()
  config.model.hidden = (60, 30, 10)   # encoder widths before the code (decoder mirrors them)
  config.model.latent_dims = 1     # code size; z adds relative distance and cosine
  config.model.activation = 'tanh'  # hidden activation of both networks
  config.model.kernel_init = 'lecun_normal'   # Flax's default; 'glorot_uniform' is TensorFlow's
  config.model.estimation_hidden = (10,)   # estimation network widths before the softmax
  config.model.n_mixtures = 4      # K, the mixture components
  config.model.dropout_rate = 0.5  # keep-prob 0.5
  config.gmm = ml_collections.ConfigDict()
  config.gmm.regularizer = 'jitter(eps=1e-6)'   # see dagmm_jax/core/regularizers.py
  # Objective and optimisation.
  config.lambda_energy = 0.1       # lambda1: weight of the sample energy
  config.lambda_cov = 0.005        # lambda2: weight of the inverse-diagonal penalty
  config.learning_rate = 1e-4      # Adam
  config.batch_size = 1024         # rows per step; every training row once per epoch
  config.num_epochs = 200          # full passes over the training rows
  config.dtype = 'float32'         # 'float64' enables jax_enable_x64
  config.checkpoint_every = 10     # epochs between checkpoints of the training state
  # Label-free restarts (dagmm_jax/training/restarts.py): R members per seed; after select_epoch
  # epochs (0: at the end, then the R-member ensemble is scored too) the member with the
  # lowest training energy goes on alone.
  config.restarts = 1              # R members per seed
  config.select_epoch = 0          # 0: train all R to the end (ensemble scored too)
  return config
