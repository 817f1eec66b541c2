"""Exports (`/v1/exports`): CSV files of people, built by a background job.

`service.py` holds the `exports` rows (create, read, list, download links,
retention), `people_csv.py` streams the people a filter chooses page by page,
`csv_format.py` turns rows into safe CSV text, and `job.py` is the job handler
that ties them to a stored file (`tidings.files`).
"""
