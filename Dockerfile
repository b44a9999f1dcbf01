# The API and the worker (same image, different command). Built by docker-compose.yml.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts=false && npm cache clean --force
COPY . .
# dist/: the worker and the API as JavaScript, the workflow bundle made once (npm run build)
RUN npm run build
USER node
EXPOSE 3000
CMD ["node", "dist/api.js"]
