"""The pages and offline maps: the folium city map and widget, the embed snippet page, the
API's Swagger UI page, the offline city map (``jzmap map``) and the coverage report
(``jzmap coverage report``).

They draw what the API answers, through the same presenters (:mod:`jzmap.presentation`),
and never import the API: the API serves these pages, not the other way round.
"""
