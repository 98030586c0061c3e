"""Data: records, dataset layouts, synthetic corpus, video cache, mixing datasets."""
