"""Problems and policies: env sources, rollout tricks, normalizer, VBN, budgets, reward shift."""
