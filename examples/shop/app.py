"""The HTTP API (Starlette): GET, PUT and DELETE /products/{id}."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shop.repository import ProductData
from shop.service import ProductService


def create_app(service: ProductService) -> Starlette:
    async def get_product(request: Request) -> Response:
        product = service.get_product(request.path_params["product_id"])
        if product is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse(_json(product))

    async def put_product(request: Request) -> Response:
        body = await request.json()
        if not isinstance(body.get("name"), str) or not isinstance(body.get("price"), int):
            return JSONResponse({"error": "need name (str) and price (int)"}, status_code=422)
        product = ProductData(request.path_params["product_id"], body["name"], body["price"])
        version = service.put_product(product)
        return JSONResponse({**_json(product), "version": version})

    async def delete_product(request: Request) -> Response:
        service.delete_product(request.path_params["product_id"])
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/products/{product_id}", get_product, methods=["GET"]),
            Route("/products/{product_id}", put_product, methods=["PUT"]),
            Route("/products/{product_id}", delete_product, methods=["DELETE"]),
        ]
    )


def _json(product: ProductData) -> dict[str, object]:
    return {"id": product.id, "name": product.name, "price": product.price_cents}
