"""Maps drawn from what the API returns (folium city map, embeddable widget).

Empty until issue 4 (the city map and the widget) lands.
"""
