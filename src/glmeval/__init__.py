"""glmeval: do frozen genomic language model representations beat one-hot DNA?"""

__version__ = "0.1.0"
