"""Assets: uploaded files (images, PDFs) served from public, unguessable URLs."""
