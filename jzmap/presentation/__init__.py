"""Domain objects to public shapes: the response and request schemas, and the presenters that
fill them. Shared by the API and the offline maps and reports, so both show exactly the same
thing; it knows nothing of HTTP routes or of pages.
"""
