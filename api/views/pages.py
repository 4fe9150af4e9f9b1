from django.shortcuts import render

from ..selectors import model_list


def index_page(request):
    models = model_list()
    for item in models:
        item.metric = item.champion.metrics.get(item.model.primary_metric) if item.champion else None
    return render(request, "api/index.html", {"models": models})
